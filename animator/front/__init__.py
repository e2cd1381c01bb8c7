"""What a user touches: ``commands`` (every command and its options: the one declaration the command line, a batch
jobs file and the studio read), ``options`` (shared option groups, ``--help`` panels), ``cli_info`` (presets, models,
metrics), ``batch`` (a jobs file on Ray), ``studio`` (the browser UI; the ``studio`` extra)."""
