"""Analysis of the accuracy table: statistics, convergence, the regularisation ablation, tables and figures."""
