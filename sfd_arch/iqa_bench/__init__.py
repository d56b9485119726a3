"""How well an IQA metric agrees with people: the released IQA datasets and MOS tables, correlations (SRCC, PLCC
after a logistic fit, KRCC), the offline baselines and the bench table (docs/iqa.md). Built on the SFD-IQA core
(:mod:`sfd_arch.iqa`); its command line is :mod:`sfd_arch.cli`."""
