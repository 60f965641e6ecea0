"""The cost and capacity model: what each DR strategy option costs, and how much of what it needs.

Pure modules (options, model, capacity) take plain data; prices and measurements are read and
validated from files; deployed.py does the I/O for ``streamdr cost --from-deployed``.
"""
