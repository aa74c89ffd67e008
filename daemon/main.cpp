#include <malloc.h>

#include "daemon/run.h"

int main(int argc, char** argv) {
  // Blocks of 128 KiB or more (at thousands of certificates: an inventory, the scanner's file
  // cache, a D-Bus reply) come from mmap and go back to the system when freed. By default glibc
  // raises this threshold to the size of the largest such block freed, and from then on they
  // come from the heap, where the copies a rescan replaces leave pages behind: at 10,000
  // certificates the private heap grew by 0.4 KB per certificate in the seconds after start-up
  // (docs/benchmarks.md). A fixed threshold keeps them out of the heap.
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  return transportcertd::RunMain(argc, argv);
}
