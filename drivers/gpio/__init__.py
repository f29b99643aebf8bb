"""GPIO devices through gpiozero: entrance beam pairs, seat sensors, guidance lights."""
