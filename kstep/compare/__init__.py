"""Provides the comparison of two models, in parts: inputs (reading and layout), trace (the runs), align (pairing),
tolerance (the policy), judge (one row from arrays), divergence (the first divergence), probe, diagnose and
input_causes (the verified causes), and analyze.Comparison, which runs them in order."""
