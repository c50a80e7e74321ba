"""Meter emulator: a Kamstrup, Aidon or Kaifa HAN port you can plug a reader into."""
