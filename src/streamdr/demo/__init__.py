"""The retail demo: a data generator, three sample workflows and their transformations."""
