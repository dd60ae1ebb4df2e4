"""Fit lme4's sleepstudy model and print its lme4-style summary."""
import pymer

sleepstudy = pymer.datasets.load("sleepstudy")
m = pymer.lmer("Reaction ~ Days + (Days | Subject)", data=sleepstudy)
print(m.summary())
