"""Every conformance check that is a function, by the name the rule table gives it (the `function`
column of mappings/conformance_rules.csv). Each check module lists its own checks in its CHECKS;
this merges them, and a name given twice is a programming error."""

from __future__ import annotations

from transforms.conform import (
    core_engine,
    events,
    findings_class,
    structure,
    subjects,
    timing,
    trial_design,
    values,
    values_and_timing,
    visits,
)

MODULES = (structure, values, findings_class, timing, visits, subjects, events, trial_design, values_and_timing, core_engine)


def _merge(modules) -> dict:
    checks: dict = {}
    for module in modules:
        twice = sorted(set(checks) & set(module.CHECKS))
        if twice:
            raise ValueError(f"{module.__name__}: check(s) {twice} are registered by another module too")
        checks.update(module.CHECKS)
    return checks


CHECKS = _merge(MODULES)
