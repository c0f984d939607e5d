"""Frame sources: folders the microscope saves to, Micro-Manager, simulated microscopes."""
