# glmmTMB 1.1.5 references for random effects in ziformula (tmb_zire.json,
# tests/test_tmb_zire.py): zero-inflated Poisson and nbinom2 models and a hurdle
# truncated_nbinom2 model whose zero model has a random intercept, and glmmTMB's
# refusal of random effects in dispformula; and dispformula = ~0 on sleepstudy's own scale
# (an observation-level random effect carrying the residual variance of Reaction).
# usage: Rscript tmb_zire.R DATA_DIR OUT_JSON     (DATA_DIR: tests/data)
source("tmb_common.R")
args <- commandArgs(trailingOnly = TRUE)
data_dir <- args[1]; out <- args[2]
sal <- load_tmb("Salamanders", data_dir)
# new data: every row with the other level of mined and spp shifted by one
newd <- sal
newd$mined <- factor(ifelse(sal$mined == "yes", "no", "yes"), levels = levels(sal$mined))
newd$spp <- factor(levels(sal$spp)[as.integer(sal$spp) %% nlevels(sal$spp) + 1], levels = levels(sal$spp))

fitinfo <- function(f) {
  v <- vcov(f, full = TRUE)
  vc <- VarCorr(f)
  re <- ranef(f)
  # broom.mixed 's tidy() fails on a model without conditional random effects
  td <- tryCatch(as.data.frame(broom.mixed::tidy(f)), error = function(e) NULL)
  list(par = I(unname(f$fit$par)), par_names = I(names(f$fit$par)),
       loglik = as.numeric(logLik(f)), df = attr(logLik(f), "df"),
       AIC = AIC(f), BIC = BIC(f), df_residual = df.residual(f), sigma = sigma(f),
       se = I(unname(sqrt(diag(v)))), se_names = I(rownames(v)),
       sd_cond = I(unname(sapply(vc$cond, function(s) attr(s, "stddev")))),
       sd_zi = I(unname(sapply(vc$zi, function(s) attr(s, "stddev")))),
       ranef_cond = I(if (length(re$cond)) unname(re$cond[[1]][, 1]) else numeric(0)), ranef_zi = I(unname(re$zi[[1]][, 1])),
       ranef_levels = I(rownames(re$zi[[1]])),
       fitted = I(unname(fitted(f))), predict_link = I(unname(predict(f, type = "link"))),
       predict_zprob = I(unname(predict(f, type = "zprob"))),
       predict_zlink = I(unname(predict(f, type = "zlink"))),
       predict_new_zprob = I(unname(predict(f, newdata = newd, type = "zprob"))),
       predict_new_response = I(unname(predict(f, newdata = newd, type = "response"))),
       tidy = if (is.null(td)) NULL else list(effect = I(td$effect), component = I(td$component), group = I(td$group),
                   term = I(td$term), estimate = I(td$estimate), std_error = I(td$std.error)),
       summary = I(capture.output(print(summary(f)))))
}
m_zip <- glmmTMB(count ~ mined + (1 | site), ziformula = ~ mined + (1 | site), data = sal,
                 family = poisson)
m_zinb <- glmmTMB(count ~ spp + mined + (1 | site), ziformula = ~ (1 | site), data = sal,
                  family = nbinom2)
m_hnb <- glmmTMB(count ~ spp + mined + (1 | site), ziformula = ~ spp + (1 | site), data = sal,
                 family = truncated_nbinom2)
# the conditional model without random effects, the zero model with them
m_zip0 <- glmmTMB(count ~ spp + mined, ziformula = ~ (1 | site), data = sal, family = poisson)
ss <- load_tmb("sleepstudy", data_dir)
ss$obs <- factor(seq_len(nrow(ss)))
m_disp0 <- glmmTMB(Reaction ~ Days + (1 | Subject) + (1 | obs), dispformula = ~0, data = ss)
disp0 <- list(par = I(unname(m_disp0$fit$par)), loglik = as.numeric(logLik(m_disp0)),
              se = I(unname(sqrt(diag(vcov(m_disp0)$cond)))),
              sd = I(unname(sapply(VarCorr(m_disp0)$cond, function(s) attr(s, "stddev")))))
disp_err <- tryCatch({glmmTMB(count ~ mined + (1 | site), dispformula = ~ (1 | site), data = sal,
                              family = nbinom2); ""}, error = function(e) conditionMessage(e))

res <- list(sal_zip = fitinfo(m_zip), sal_zinb = fitinfo(m_zinb), sal_hurdle_nb2 = fitinfo(m_hnb),
            sal_zip_nocondre = fitinfo(m_zip0), disp_re_error = disp_err, sleep_disp0_unscaled = disp0)
write_json_file(res, out)
