"""The controller runtime (DESIGN layer 4): runs controllers over the store's watches."""
