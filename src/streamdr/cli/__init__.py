"""The `streamdr` command line: one module per noun, each thin (parse → call → render)."""
