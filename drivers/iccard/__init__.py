"""IC-card (electricity purchase card) reader over PC/SC, with a virtual card for vpcd."""
