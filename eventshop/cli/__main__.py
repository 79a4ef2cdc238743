"""`python -m eventshop.cli`: the operator CLI, as the `eventshop` script runs it."""

from eventshop.cli.main import main

main()
