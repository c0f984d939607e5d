"""Frames from a folder the microscope saves to: files, MM single-TIFF layout, NDTiff."""
