"""Day-ahead spot prices: ENTSO-E prices, Norges Bank's EUR/NOK rate, the cache."""
