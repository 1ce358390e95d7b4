// Must not compile: a kernel of 5 with valid padding cannot fit a list of 4 secondary vertices.
#include <deepjet/deepjet.hpp>
using Net = deepjet::Sequential<deepjet::Input<4, 12>, deepjet::Conv1D<8, 5>, deepjet::ReLU>;
int main() { deepjet::Model<Net> model; }
