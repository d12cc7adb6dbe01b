"""cocotb test benches of the crypto engine, built from a driver, a monitor, a reference model and
a checker (cocotb's matrix_multiplier layout). The pytest entry points in
``tests/test_cocotb_engine.py`` build the engine's Verilog and run these benches on Icarus and
Verilator; the reference model is also what `esa hdl bench` checks its results against."""
