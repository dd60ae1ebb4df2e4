# Reference tables for tests/test_tidy.py: broom.mixed 0.2.9.4 on lme4 1.1-31 and
# lmerTest fits (Debian: apt-get install r-cran-broom.mixed r-cran-lmertest).
#   Rscript tests/data/broom_mixed.R > tests/data/broom_mixed.json
suppressMessages({library(lme4); library(broom.mixed); library(jsonlite)})
m <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
m2 <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy, REML=FALSE)
p <- lmer(diameter ~ 1 + (1|plate) + (1|sample), Penicillin)
ps <- lmer(strength ~ 1 + (1|batch/cask), Pastes)
m3 <- lmer(Reaction ~ Days + (1 | Subject) + (0 + Days | Subject), sleepstudy)
mt <- lmerTest::lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
out <- list(
 sleep_default = tidy(m),
 sleep_fixed_ci90 = tidy(m, effects="fixed", conf.int=TRUE, conf.level=0.9),
 sleep_ranvals = tidy(m, effects="ran_vals", conf.int=TRUE),
 sleep_vcov = tidy(m, effects="ran_pars", scales="vcov"),
 sleep_coefs = tidy(m, effects="ran_coefs"),
 sleep_glance = glance(m), sleep_ml_glance = glance(m2),
 pen_default = tidy(p), pen_ranvals = tidy(p, effects="ran_vals"), pen_glance = glance(p),
 pastes = tidy(ps), uncorr = tidy(m3),
 sleep_lmertest = tidy(mt, conf.int=TRUE))   # Satterthwaite df and p-values
cat(toJSON(lapply(out, as.data.frame), digits=NA, na="null", dataframe="columns", pretty=TRUE))
