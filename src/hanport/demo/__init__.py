"""`hanport demo`: the whole system on embedded defaults in one command."""
