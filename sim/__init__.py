"""What people run: the console, the lab, the benches, the HDL flows, and the `esa` command."""
