"""Co-simulation of the engine's exported Verilog in a simulator process (Verilator or Icarus).

The host and the simulated device exchange whole frames over two named pipes, never single
cycles: the testbench (:mod:`driver.cosim.testbench`) queues the job frames the host sends and
clocks the engine on its own until the jobs are in and their results out, so that Python is
not involved per cycle. :mod:`driver.cosim.build` turns the Verilog into a simulator binary
(cached by a hash of everything that goes into it), :mod:`driver.cosim.transport` runs it.
"""
