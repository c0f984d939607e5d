"""Simulated microscopes: the virtual plate microscope and the replay source."""
