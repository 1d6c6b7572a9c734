"""Package data of kbbot: the shipped default calibration."""
