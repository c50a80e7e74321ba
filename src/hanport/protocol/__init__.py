"""Sans-I/O protocol core for the HAN port byte stream."""
