// Must not compile: Conv1D slides over the particles of a list, and a flat block (15) has none.
#include <deepjet/deepjet.hpp>
using Net = deepjet::Sequential<deepjet::Input<15>, deepjet::Conv1D<8>, deepjet::ReLU>;
int main() { deepjet::Model<Net> model; }
