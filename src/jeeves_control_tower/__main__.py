"""`python -m jeeves_control_tower`: the `jeeves` command."""

from .cli import main

main(prog_name="jeeves")
