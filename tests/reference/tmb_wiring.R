# Reference numbers for tests/test_tmb_wiring.py: glmmTMB's tidy (broom.mixed),
# anova's model lines, ggeffects' predict_response and emmeans on one zero-inflated
# Poisson model of Salamanders (the conditional model, as both packages do for glmmTMB),
# and ggpredict(type = "random") on an nbinom2 fit.
# usage: Rscript tmb_wiring.R DATA_DIR OUT_JSON     (DATA_DIR: tests/data)
source("tmb_common.R")
suppressMessages({library(broom.mixed); library(ggeffects); library(emmeans)})
args <- commandArgs(trailingOnly = TRUE)
data_dir <- args[1]; out <- args[2]
d <- load_tmb("Salamanders", data_dir)
m1 <- glmmTMB(count ~ mined + (1 | site), data = d, family = poisson, ziformula = ~mined)
m0 <- glmmTMB(count ~ 1 + (1 | site), data = d, family = poisson, ziformula = ~mined)
td <- as.data.frame(tidy(m1))
a <- anova(m0, m1)
heading <- attr(a, "heading")
pr <- as.data.frame(ggpredict(m1, "mined"))   # predict_response in ggeffects >= 1.7
em <- summary(emmeans(m1, "mined"))
emr <- summary(emmeans(m1, "mined", type = "response"))
ct <- summary(pairs(emmeans(m1, "mined")))
nb <- glmmTMB(count ~ mined + (1 | site), data = d, family = nbinom2)
prr <- as.data.frame(ggpredict(nb, "mined", type = "random"))
res <- list(
  tidy = list(effect = td$effect, component = td$component, group = td$group, term = td$term,
              estimate = td$estimate, std.error = td$std.error, statistic = td$statistic,
              p.value = td$p.value),
  anova_heading = heading, anova_chisq = a$Chisq[2], anova_p = a[["Pr(>Chisq)"]][2],
  predict_response = list(x = as.character(pr$x), predicted = pr$predicted, std.error = pr$std.error,
                          conf.low = pr$conf.low, conf.high = pr$conf.high),
  predict_response_nb2_random = list(predicted = prr$predicted, std.error = prr$std.error,
                                     conf.low = prr$conf.low, conf.high = prr$conf.high),
  emmeans = list(mined = as.character(em$mined), emmean = em$emmean, SE = em$SE, df = em$df,
                 lower.CL = em$lower.CL, upper.CL = em$upper.CL),
  emmeans_response = list(rate = emr$rate, SE = emr$SE),
  contrasts = list(contrast = as.character(ct$contrast), estimate = ct$estimate, SE = ct$SE,
                   z.ratio = ct$z.ratio, p.value = ct$p.value)
)
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, na = "null", null = "null"), out)
