"""`python -m comp_llm_graph.cli`: the same as the `comp-llm` command."""

from comp_llm_graph.cli import main

if __name__ == "__main__":
    main()  # usage lines read `python -m comp_llm_graph.cli`, as click names it
