"""Backtests: replay recorded sessions through the real runtime into a database, score every signal
with the learning code and report a scorecard against no-skill baselines (`python -m core backtest`).

- sessions.py: one recording -> one run (Runtime driven by hand, SignalLogger writing);
- baseline.py: the no-skill baselines from the runs' own price paths;
- scorecard.py: hit rates, Wilson intervals, Brier scores and reliability per engine/signal/horizon;
- runner.py: the whole backtest, its JSON and its text table (its benchmark is core.bench.backtest).
"""
