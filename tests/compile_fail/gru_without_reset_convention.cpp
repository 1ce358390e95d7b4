// Must not compile: a GRU needs its reset convention spelled out (Keras 2.2 and ONNX default to
// reset_before, Keras 2.3+ and PyTorch to reset_after; the same weights give other outputs).
#include <deepjet/deepjet.hpp>
using Net = deepjet::Sequential<deepjet::Input<25, 8>, deepjet::GRU<50, deepjet::backwards>, deepjet::Dense<6>>;
int main() { deepjet::Model<Net> model; }
