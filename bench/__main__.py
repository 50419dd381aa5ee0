"""`python -m bench` (`make bench`): every benchmark at a quick size, one table (bench/run_all.py)."""

from bench.run_all import main

if __name__ == "__main__":  # not again in the benchmarks' processes (multiprocessing imports this as __mp_main__)
    main()
