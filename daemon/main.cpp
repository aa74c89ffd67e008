#include "daemon/run.h"

int main(int argc, char** argv) { return transportcertd::RunMain(argc, argv); }
