"""Analysis of the accuracy table: the table itself (``aggregate``) and its checks (``table_checks``, free of
statsmodels), statistics (``stats``), convergence (``convergence``), the regularisation ablation (``ablation``),
the transferability estimators judged against measured transfer (``transferability``), which property of a
source model predicts transfer (``properties``), training-set-size curves (``subsets``), the figure catalogue
(``catalogue``, free of matplotlib), the figures (``figures``) and their shared drawing (``plotting``), and
every table of one accuracy table (``tables``)."""
