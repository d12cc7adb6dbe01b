// The Verilator main of the co-simulation: clock the testbench until it calls $finish.
// All the protocol lives in the testbench (driver/cosim/testbench.py); this only drives clk.
#include <memory>

#include "Vcosim_tb.h"
#include "verilated.h"

int main(int argc, char** argv) {
    const std::unique_ptr<VerilatedContext> context{new VerilatedContext};
    context->commandArgs(argc, argv);
    const std::unique_ptr<Vcosim_tb> top{new Vcosim_tb{context.get()}};
    top->clk = 0;
    top->eval();
    while (!context->gotFinish()) {
        top->clk = 1;
        top->eval();
        top->clk = 0;
        top->eval();
    }
    top->final();
    return 0;
}
