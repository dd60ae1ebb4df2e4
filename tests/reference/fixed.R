# Reference values for fixed-effects-only fits: R's lm and glm (estimates, vcov,
# residuals of every type, predictions with standard errors and intervals, the
# likelihood summaries and the printed summary() text), lme4's lmList, and anova()
# of a mixed model against its fixed-effects counterpart.
#
# usage: Rscript fixed.R DATA_DIR OUT.json [TYPES.json]
#   (from tests/reference: Rscript fixed.R ../../../shared/data fixed.json)
#
# JSON: {"lm": {id: entry}, "glm": {id: entry}, "lmlist": {id: entry}, "anova": {id: entry}}.
# lm/glm entries: id, data, prep, call, coef (null for aliased columns), coef_names,
# vcov (non-aliased rows and columns), sigma, residuals (response, pearson, deviance,
# working: all rows), fitted, predict (on the first 6 rows of the data: fit, se_fit;
# lm also interval = "confidence" / "prediction" lwr, upr; glm: link and response),
# loglik, df (logLik's), AIC, BIC, deviance, df_residual, nobs, summary (the lines of
# print(summary(fit)), width 80, plain quotes; the data are bound to a variable named
# after the data set, or `d` for simulated data), and lm: r_squared, adj_r_squared,
# fstatistic; glm: null_deviance, df_null, dispersion, iter, family, link.
suppressMessages({library(lme4)})
invisible(Sys.setlocale("LC_COLLATE", "C"))
options(width = 80, useFancyQuotes = FALSE)

script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f[1])) else getwd()
})
source(file.path(script_dir, "common.R"))

args <- commandArgs(TRUE)
if (length(args) < 2) stop("usage: Rscript fixed.R DATA_DIR OUT.json [TYPES.json]")
data_dir <- args[1]
types <- read_types(if (length(args) >= 3) args[3] else file.path(data_dir, "lme4_datasets_types.json"))
sim_dir <- file.path(script_dir, "..", "data")

get_data <- function(name, prep = NULL) {
  dir <- if (file.exists(file.path(data_dir, paste0(name, ".csv")))) data_dir else sim_dir
  d <- load_data(name, dir, types)
  if (!is.null(prep)) d <- prep(d)
  d
}

common <- function(fit, nd) {
  cf <- coef(fit)
  list(coef = I(unname(cf)), coef_names = I(names(cf)), vcov = unname(vcov(fit)),
       sigma = sigma(fit),
       residuals = list(response = I(unname(residuals(fit, "response"))),
                        pearson = I(unname(residuals(fit, "pearson"))),
                        deviance = I(unname(residuals(fit, "deviance"))),
                        working = I(unname(residuals(fit, "working")))),
       fitted = I(unname(fitted(fit))),
       loglik = as.numeric(logLik(fit)), df = attr(logLik(fit), "df"),
       AIC = AIC(fit), BIC = BIC(fit), deviance = deviance(fit),
       df_residual = df.residual(fit), nobs = nobs(fit),
       summary = I(capture.output(print(summary(fit)))))
}

res <- list(lm = list(), glm = list(), lmlist = list(), anova = list())

run_lm <- function(id, data, call, prep = NULL, prep_desc = NULL, name = data) {
  d <- get_data(data, prep)
  env <- new.env(); assign(name, d, envir = env)
  fit <- eval(call, env)
  nd <- head(d, 6)
  pc <- predict(fit, nd, se.fit = TRUE, interval = "confidence")
  pp <- suppressWarnings(predict(fit, nd, interval = "prediction"))
  s <- summary(fit)
  e <- c(list(id = id, data = data, prep = prep_desc, call = deparse1(call)), common(fit, nd),
         list(predict = list(fit = I(unname(pc$fit[, "fit"])), se_fit = I(unname(pc$se.fit)),
                             conf_lwr = I(unname(pc$fit[, "lwr"])), conf_upr = I(unname(pc$fit[, "upr"])),
                             pred_lwr = I(unname(pp[, "lwr"])), pred_upr = I(unname(pp[, "upr"])),
                             df = pc$df, residual_scale = pc$residual.scale),
              r_squared = s$r.squared, adj_r_squared = s$adj.r.squared,
              fstatistic = if (is.null(s$fstatistic)) NULL else I(unname(s$fstatistic))))
  res$lm[[id]] <<- e
}

run_glm <- function(id, data, call, prep = NULL, prep_desc = NULL, name = data) {
  d <- get_data(data, prep)
  env <- new.env(); assign(name, d, envir = env)
  fit <- eval(call, env)
  nd <- head(d, 6)
  pl <- predict(fit, nd, se.fit = TRUE, type = "link")
  pr <- predict(fit, nd, se.fit = TRUE, type = "response")
  s <- summary(fit)
  e <- c(list(id = id, data = data, prep = prep_desc, call = deparse1(call)), common(fit, nd),
         list(predict = list(link = I(unname(pl$fit)), link_se = I(unname(pl$se.fit)),
                             response = I(unname(pr$fit)), response_se = I(unname(pr$se.fit))),
              null_deviance = fit$null.deviance, df_null = fit$df.null,
              dispersion = s$dispersion, iter = fit$iter, converged = fit$converged,
              family = family(fit)$family, link = family(fit)$link))
  res$glm[[id]] <<- e
}

days2 <- function(d) { d$Days2 <- 2 * d$Days; d }
wts <- function(d) { d$w <- 1 + (d$Days %% 3); d }

run_lm("sleepstudy", "sleepstudy", quote(lm(Reaction ~ Days, data = sleepstudy)))
run_lm("sleepstudy_weights", "sleepstudy", quote(lm(Reaction ~ Days, data = sleepstudy, weights = w)),
       wts, "w = 1 + (Days %% 3)")
run_lm("sleepstudy_rankdef", "sleepstudy", quote(lm(Reaction ~ Days + Days2, data = sleepstudy)),
       days2, "Days2 = 2*Days")
run_lm("sleepstudy_no_intercept", "sleepstudy", quote(lm(Reaction ~ 0 + Days, data = sleepstudy)))
run_lm("sleepstudy_offset", "sleepstudy", quote(lm(Reaction ~ Days + offset(2 * Days), data = sleepstudy)))
run_lm("cake_interaction", "cake", quote(lm(angle ~ recipe * temperature, data = cake)))
run_lm("sites_fixed", "robinson_sites", quote(lm(y ~ x + site, data = robinson_sites)))
run_lm("batmass", "batMass", quote(lm(mass ~ species * forest, data = batMass)))
run_lm("lamprey_missing", "lamprey_adult_lab_DNA", quote(lm(Copies ~ stock, data = lamprey_adult_lab_DNA)))

run_glm("cbpp_binomial", "cbpp", quote(glm(cbind(incidence, size - incidence) ~ period, family = binomial, data = cbpp)))
run_glm("cbpp_proportion_weights", "cbpp",
        quote(glm(incidence / size ~ period, family = binomial, data = cbpp, weights = size)))
run_glm("cbpp_probit_01", "cbpp", quote(glm(I(incidence > 0) ~ period + size, family = binomial(link = "probit"), data = cbpp)))
run_glm("grouseticks_poisson", "grouseticks", quote(glm(TICKS ~ YEAR + HEIGHT, family = poisson, data = grouseticks)))
run_glm("gamma_log", "gamma_sim", quote(glm(y ~ x + trt, family = Gamma(link = "log"), data = d)), name = "d")
run_glm("gaussian", "sleepstudy", quote(glm(Reaction ~ Days, data = sleepstudy)))
run_glm("cbpp_poisson_offset", "cbpp",
        quote(glm(incidence ~ period + offset(log(size)), family = poisson, data = cbpp)))

## lmList
run_lmlist <- function(id, data, call) {
  d <- get_data(data)
  env <- new.env(); assign(data, d, envir = env)
  fit <- eval(call, env)
  cf <- coef(fit)
  ci <- confint(fit)
  res$lmlist[[id]] <<- list(
    id = id, data = data, call = deparse1(call), coef = tab(cf),
    confint = list(levels = I(dimnames(ci)[[1]]), bounds = I(dimnames(ci)[[2]]), coefs = I(dimnames(ci)[[3]]),
                   lower = unname(ci[, 1, ]), upper = unname(ci[, 2, ])),
    sigma = summary(fit)$RSE, print = I(capture.output(print(fit))))
}
run_lmlist("sleepstudy", "sleepstudy", quote(lmList(Reaction ~ Days | Subject, data = sleepstudy)))
run_lmlist("sites", "robinson_sites", quote(lmList(y ~ x | site, data = robinson_sites)))

## anova(lmer, lm)
run_anova <- function(id, data, models, names) {
  d <- get_data(data)
  env <- new.env(); assign(data, d, envir = env)
  for (nm in names(models)) assign(nm, eval(models[[nm]], env), envir = env)
  cap <- capture(eval(parse(text = sprintf("anova(%s)", paste(names, collapse = ", "))), env))
  res$anova[[id]] <<- list(id = id, data = data, models = lapply(models, deparse1),
                           names = I(names), table = tab(cap$value),
                           printed = I(capture.output(print(cap$value))), warnings = I(c(cap$warnings, cap$messages)))
}
run_anova("sleepstudy_ML", "sleepstudy",
          list(m_lmer = quote(lmer(Reaction ~ Days + (1 | Subject), data = sleepstudy, REML = FALSE)),
               m_lm = quote(lm(Reaction ~ Days, data = sleepstudy))), c("m_lmer", "m_lm"))
run_anova("sites_ML", "robinson_sites",
          list(m_lmer = quote(lmer(y ~ x + (1 | site), data = robinson_sites, REML = FALSE)),
               m_lm = quote(lm(y ~ x + site, data = robinson_sites))), c("m_lmer", "m_lm"))
run_anova("sleepstudy_REML", "sleepstudy",
          list(m_lmer = quote(lmer(Reaction ~ Days + (Days | Subject), data = sleepstudy)),
               m_lm = quote(lm(Reaction ~ Days, data = sleepstudy))), c("m_lmer", "m_lm"))

write_json_file(res, args[2])
