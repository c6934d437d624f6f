"""`python -m lfr.demo.nodes --node NAME ...`: a camera node of `lfr demo --nodes 3`."""

from lfr.demo.nodes.edge import main

main()
