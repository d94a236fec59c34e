"""The cosid process (DESIGN layer 8): configuration, listeners, lifecycle."""
