"""The ticket printer: ESC/POS codec, transports, ticket layout, the unit, and a simulated printer."""
