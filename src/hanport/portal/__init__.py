"""Port service for the grid company: order, authorise, open/close, verify, confirm."""
