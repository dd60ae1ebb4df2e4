# broom.mixed's tidy(), anova() and Wald confint() of glmmTMB fits, for tmb_inference.json
# (tests/test_tmb_inference.py). usage: Rscript tmb_inference.R DATA_DIR OUT_JSON
source("tmb_common.R")
suppressMessages(library(broom.mixed))
args <- commandArgs(trailingOnly = TRUE)
sal <- load_tmb("Salamanders", args[1])
m1 <- glmmTMB(count ~ mined + (1 | site), ziformula = ~mined, data = sal, family = poisson)
m0 <- glmmTMB(count ~ 1 + (1 | site), ziformula = ~mined, data = sal, family = poisson)
td <- as.data.frame(tidy(m1))
m2 <- glmmTMB(count ~ mined + spp + (1 | site), ziformula = ~mined, data = sal, family = poisson)
dr <- as.data.frame(drop1(m2, test = "Chisq"))
a <- as.data.frame(anova(m0, m1))
ci <- confint(m1, method = "wald")
res <- list(
  tidy = list(effect = I(td$effect), component = I(td$component), group = I(td$group), term = I(td$term),
              estimate = I(td$estimate), std_error = I(td$std.error), statistic = I(td$statistic),
              p_value = I(td$p.value)),
  anova = list(Df = I(a$Df), AIC = I(a$AIC), BIC = I(a$BIC), logLik = I(a$logLik), deviance = I(a$deviance),
               Chisq = I(a$Chisq), Chi_Df = I(a[["Chi Df"]]), p = I(a[["Pr(>Chisq)"]])),
  drop1 = list(terms = I(rownames(dr)), Df = I(dr$Df), AIC = I(dr$AIC), LRT = I(dr$LRT), p = I(dr[["Pr(>Chi)"]])),
  confint = list(names = I(rownames(ci)), lower = I(unname(ci[, 1])), upper = I(unname(ci[, 2]))))
write_json_file(res, args[2])
