"""Scenario discovery: where, in the space of uncertainties, does a policy fail?

`partnersim discover DIR` reads the runs `partnersim run` stored in DIR and, per lever
setting (policy), runs PRIM (the patient rule induction method, from EMA Workbench: the
optional extra `partnersim[discovery]`) over the uncertainty columns for an outcome
condition such as `partnership_terminated` or `npv_usd < 0`. One idea per module:

    condition      the small, safe condition language (COLUMN, or COLUMN OP NUMBER)
    prim_adapter   the only importer of EMA Workbench: x, y -> boxes (its API changes here)
    analysis       DIR's runs -> which columns are levers and uncertainties -> boxes as tables
    page           DIR/discovery.html and the peeling trajectory charts
    command        the `partnersim discover` subcommand
"""
