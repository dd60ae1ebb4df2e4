# glmmTMB 1.1.5 references for glmmTMB's features in tmb_feat.json (tests/test_tmb_feat.py):
# models without random effects, dispformula = ~0, and profile-likelihood intervals
# (confint(method = "profile") and method = "uniroot").
# usage: Rscript tmb_feat.R DATA_DIR OUT_JSON     (DATA_DIR: tests/data)
source("tmb_common.R")
args <- commandArgs(trailingOnly = TRUE)
data_dir <- args[1]; out <- args[2]
sal <- load_tmb("Salamanders", data_dir)
cbpp <- load_tmb("cbpp", data_dir)
ss <- load_tmb("sleepstudy", data_dir)
# dispformula = ~0: an observation-level random effect carries the residual variance
ss$y <- ss$Reaction / 100
ss$obs <- factor(seq_len(nrow(ss)))

fitinfo <- function(f) {
  v <- vcov(f, full = TRUE)
  list(par = I(unname(f$fit$par)), loglik = as.numeric(logLik(f)), df = attr(logLik(f), "df"),
       AIC = AIC(f), BIC = BIC(f), df_residual = df.residual(f), sigma = sigma(f),
       se = I(unname(sqrt(diag(v)))), se_names = I(rownames(v)),
       fitted = I(unname(fitted(f))), predict_link = I(unname(predict(f, type = "link"))),
       summary = I(capture.output(print(summary(f)))))
}
m_zinb <- glmmTMB(count ~ spp + mined, ziformula = ~1, data = sal, family = nbinom2)
m_pois <- glmmTMB(count ~ spp + mined, data = sal, family = poisson)
m_pois_re <- glmmTMB(count ~ spp + mined + (1 | site), data = sal, family = poisson)
m_binom <- glmmTMB(cbind(incidence, size - incidence) ~ period, data = cbpp, family = binomial)
m_reml <- glmmTMB(Reaction ~ Days, data = ss, REML = TRUE)
m_disp0 <- glmmTMB(y ~ Days + (1 | Subject) + (1 | obs), dispformula = ~0, data = ss)
m_pois0 <- glmmTMB(count ~ mined + (1 | site), dispformula = ~0, data = sal, family = poisson)
a <- as.data.frame(anova(m_pois, m_pois_re))
td <- as.data.frame(broom.mixed::tidy(m_zinb))
disp0_err <- tryCatch({glmmTMB(count ~ mined + (1 | site), dispformula = ~0, data = sal, family = nbinom2); ""},
                      error = function(e) conditionMessage(e))

# profile intervals
# spline = FALSE: glmmTMB's "profile" method fails on that model (interpSpline: "system is
# computationally singular"), only its uniroot intervals are stored
prof <- function(f, parm = NULL, spline = TRUE) {
  u <- if (is.null(parm)) confint(f, method = "uniroot") else confint(f, method = "uniroot", parm = parm)
  out <- list(uniroot_names = I(rownames(u)), uniroot_lower = I(unname(u[, 1])),
              uniroot_upper = I(unname(u[, 2])), estimate = I(unname(u[, 3])))
  if (spline) {
    p <- if (is.null(parm)) confint(f, method = "profile") else confint(f, method = "profile", parm = parm)
    out <- c(out, list(names = I(rownames(p)), lower = I(unname(p[, 1])), upper = I(unname(p[, 2]))))
  }
  out
}
m_zip <- glmmTMB(count ~ mined + (1 | site), ziformula = ~1, data = sal, family = poisson)
m_sdisp <- glmmTMB(Reaction ~ Days + (1 | Subject), dispformula = ~Days, data = ss)
m_zinb2 <- glmmTMB(count ~ mined + (1 | site), ziformula = ~mined, data = sal, family = nbinom2)
# a random slope: glmmTMB's theta (log sd1, log sd2, correlation parameter)
m_slopes <- glmmTMB(Reaction ~ Days + (Days | Subject), data = ss)

res <- list(
  nore = list(sal_zinb2 = fitinfo(m_zinb), sal_poisson = fitinfo(m_pois), cbpp_binomial = fitinfo(m_binom),
              sleep_reml = fitinfo(m_reml)),
  anova = list(Df = I(a$Df), AIC = I(a$AIC), BIC = I(a$BIC), logLik = I(a$logLik), Chisq = I(a$Chisq),
               p = I(a[["Pr(>Chisq)"]])),
  tidy = list(term = I(td$term), component = I(td$component), estimate = I(td$estimate),
              std_error = I(td$std.error)),
  disp0 = list(sleep_obs = fitinfo(m_disp0), sal_poisson = fitinfo(m_pois0), nbinom2_error = disp0_err),
  profile = list(sal_zip = prof(m_zip), sleep_disp = prof(m_sdisp),
                 sal_zinb2 = prof(m_zinb2, parm = c("minedno", "zi~minedno", "theta_1|site.1"), spline = FALSE),
                 sleep_slopes = prof(m_slopes, parm = "theta_", spline = FALSE))
)
write_json_file(res, out)
