# lme4's answers for the arguments and controls users pass (tests/test_fidelity_args.py):
# subset=, na.action=, start=, mustart=, etastart=, control= (lmerControl/glmerControl),
# devFunOnly=TRUE, getME(), links from make.link() for any family, glmer() without family.
#
# usage: Rscript fidelity_args.R DATA_DIR OUT.json   (from tests/reference)
suppressMessages(library(lme4))
invisible(Sys.setlocale("LC_COLLATE", "C"))
script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f[1])) else getwd()
})
source(file.path(script_dir, "common.R"))
args <- commandArgs(TRUE)
data_dir <- if (length(args) >= 1) args[1] else "../../../shared/data"
out <- if (length(args) >= 2) args[2] else "fidelity_args.json"
types <- read_types(file.path(data_dir, "lme4_datasets_types.json"))
sleep <- load_data("sleepstudy", data_dir, types)
cbpp <- load_data("cbpp", data_dir, types)
dye2 <- load_data("Dyestuff2", data_dir, types)

II <- function(x) I(if (is.null(x)) character(0) else x)
fit_info <- function(m) {
  list(theta = I(unname(getME(m, "theta"))), beta = I(unname(fixef(m))),
       fixef_names = I(names(fixef(m))), objective = -2 * as.numeric(logLik(m)),
       REMLcrit = if (isREML(m)) unname(REMLcrit(m)) else NULL,
       nobs = nobs(m), sigma = sigma(m), class = class(m)[1],
       optimizer = II(m@optinfo$optimizer), has_derivs = !is.null(m@optinfo$derivs),
       messages = II(unlist(m@optinfo$conv$lme4$messages)))
}
run <- function(expr) {
  r <- tryCatch(capture(expr), error = function(e) list(error = conditionMessage(e)))
  if (!is.null(r$error)) return(list(error = r$error))
  c(fit_info(r$value), list(warnings = II(r$warnings), r_messages = II(r$messages)))
}
na_vec <- function(x) I(unname(as.numeric(x)))

res <- list()
f_ss <- Reaction ~ Days + (Days | Subject)
f_cb <- cbind(incidence, size - incidence) ~ period + (1 | herd)

# ---- subset=
res$subset_lmer <- run(lmer(f_ss, sleep, subset = Days >= 2))
res$subset_glmer <- run(glmer(f_cb, cbpp, binomial, subset = herd != "1"))

# ---- na.action=
sl_na <- sleep
sl_na$Reaction[c(3, 50, 100)] <- NA
sl_na$Days[120] <- NA
res$na_data_rows <- I(c(3, 50, 100, 120))
m_omit <- lmer(f_ss, sl_na, na.action = na.omit)
m_excl <- lmer(f_ss, sl_na, na.action = na.exclude)
res$na_lmer <- c(fit_info(m_excl), list(
  fitted_omit = na_vec(fitted(m_omit)), fitted_exclude = na_vec(fitted(m_excl)),
  resid_exclude = na_vec(residuals(m_excl)), pearson_exclude = na_vec(residuals(m_excl, type = "pearson")),
  predict_exclude = na_vec(predict(m_excl)), predict_re0_exclude = na_vec(predict(m_excl, re.form = NA))))
res$na_fail <- tryCatch({lmer(f_ss, sl_na, na.action = na.fail); "no error"}, error = function(e) conditionMessage(e))
cb_na <- cbpp
cb_na$incidence[5] <- NA
g_excl <- glmer(f_cb, cb_na, binomial, na.action = na.exclude)
res$na_glmer <- c(fit_info(g_excl), list(
  fitted_exclude = na_vec(fitted(g_excl)), resid_exclude = na_vec(residuals(g_excl)),
  resid_response_exclude = na_vec(residuals(g_excl, type = "response")),
  predict_exclude = na_vec(predict(g_excl)), predict_resp_exclude = na_vec(predict(g_excl, type = "response"))))

# ---- start=
res$start_lmer <- run(lmer(f_ss, sleep, start = c(2, 0.5, 0.5)))
res$start_lmer_list <- run(lmer(f_ss, sleep, start = list(theta = c(2, 0.5, 0.5))))
res$start_glmer <- run(glmer(f_cb, cbpp, binomial, start = list(theta = 1, fixef = c(-1, -1, -1, -1))))
res$start_glmer_theta <- run(glmer(f_cb, cbpp, binomial, start = 0.3))
res$mustart_glmer <- run(glmer(f_cb, cbpp, binomial, mustart = rep(0.2, nrow(cbpp))))
res$etastart_glmer <- run(glmer(f_cb, cbpp, binomial, etastart = rep(-1.5, nrow(cbpp))))
res$start_bad <- tryCatch({lmer(f_ss, sleep, start = c(1, 2)); "no error"}, error = function(e) conditionMessage(e))

# ---- control=
sl_obs <- sleep
sl_obs$obs <- factor(seq_len(nrow(sleep)))
f_obs <- Reaction ~ Days + (1 | Subject) + (1 | obs)
res$nobs_nlev_default <- run(lmer(f_obs, sl_obs))
res$nobs_nlev_ignore <- run(lmer(f_obs, sl_obs, control = lmerControl(check.nobs.vs.nlev = "ignore",
                                                                         check.nobs.vs.nRE = "ignore")))
res$nobs_nlev_warning <- run(lmer(f_obs, sl_obs, control = lmerControl(check.nobs.vs.nlev = "warning",
                                                                          check.nobs.vs.nRE = "warning")))
res$singular_default <- run(lmer(Yield ~ 1 + (1 | Batch), dye2))
res$singular_ignore <- run(lmer(Yield ~ 1 + (1 | Batch), dye2, control = lmerControl(check.conv.singular = "ignore")))
res$singular_warning <- run(lmer(Yield ~ 1 + (1 | Batch), dye2, control = lmerControl(check.conv.singular = "warning")))
res$no_restart_edge <- run(lmer(Yield ~ 1 + (1 | Batch), dye2, control = lmerControl(restart_edge = FALSE, boundary.tol = 0)))
res$calc_derivs_false <- run(lmer(f_ss, sleep, control = lmerControl(calc.derivs = FALSE)))
res$lmer_nelder_mead <- run(lmer(f_ss, sleep, control = lmerControl(optimizer = "Nelder_Mead")))
res$glmer_two_optimizers <- run(glmer(f_cb, cbpp, binomial, control = glmerControl(optimizer = c("bobyqa", "Nelder_Mead"))))
res$glmer_no_init_step <- run(glmer(f_cb, cbpp, binomial, control = glmerControl(nAGQ0initStep = FALSE)))
res$glmer_tolPwrss <- run(glmer(f_cb, cbpp, binomial, control = glmerControl(tolPwrss = 1e-9)))
sl_rank <- sleep
sl_rank$Days2 <- 2 * sleep$Days
res$rankX_stop <- run(lmer(Reaction ~ Days + Days2 + (1 | Subject), sl_rank, control = lmerControl(check.rankX = "stop.deficient")))
res$rankX_default <- run(lmer(Reaction ~ Days + Days2 + (1 | Subject), sl_rank))
sl_scale <- sleep
sl_scale$DaysBig <- sleep$Days * 1e5
res$scaleX_stop <- run(lmer(Reaction ~ DaysBig + (1 | Subject), sl_scale, control = lmerControl(check.scaleX = "stop")))
res$unknown_control <- tryCatch({lmerControl(foo = 1); "no error"}, error = function(e) conditionMessage(e))

# ---- devFunOnly=TRUE
dfl <- lmer(f_ss, sleep, devFunOnly = TRUE)
dfl_ml <- lmer(f_ss, sleep, REML = FALSE, devFunOnly = TRUE)
th_pts <- list(c(1, 0, 1), c(0.9, 0.1, 0.2), c(0.5, -0.2, 0.3))
res$devfun_lmer <- list(points = th_pts, reml = I(sapply(th_pts, dfl)), ml = I(sapply(th_pts, dfl_ml)))
dfg <- glmer(f_cb, cbpp, binomial, devFunOnly = TRUE)
g_pts <- list(c(0.5, -1.4, -1, -1.1, -1.5), c(0.8, -1.2, -0.9, -1, -1.4))
res$devfun_glmer <- list(points = g_pts, value = I(sapply(g_pts, dfg)))
dfg0 <- glmer(f_cb, cbpp, binomial, nAGQ = 0, devFunOnly = TRUE)
res$devfun_glmer0 <- list(points = list(0.5, 0.8), value = I(sapply(list(0.5, 0.8), dfg0)))

# ---- getME()
m <- lmer(f_ss, sleep)
Lt <- as.matrix(getME(m, "Lambdat"))
res$getme <- list(
  theta = I(unname(getME(m, "theta"))), beta = I(unname(getME(m, "beta"))),
  lower = I(unname(getME(m, "lower"))), Lambdat_dim = I(dim(Lt)), Lambdat_top = Lt[1:4, 1:4],
  Lambdat_nnz = sum(Lt != 0), Zt_dim = I(dim(getME(m, "Zt"))), Z_rowsum = I(unname(rowSums(as.matrix(getME(m, "Z"))))[1:5]),
  X_dim = I(dim(getME(m, "X"))), u = I(unname(getME(m, "u"))), b = I(unname(as.numeric(getME(m, "b")))),
  RX = unname(getME(m, "RX")), RZX_dim = I(dim(as.matrix(getME(m, "RZX")))), Gp = I(unname(getME(m, "Gp"))),
  Lind = I(unname(getME(m, "Lind"))), cnms = lapply(getME(m, "cnms"), I),
  flist_levels = lapply(getME(m, "flist"), function(f) I(levels(f))),
  n_rtrms = getME(m, "n_rtrms"), q = getME(m, "q"), p = getME(m, "p"), n = getME(m, "n"),
  sigma = getME(m, "sigma"), REML = getME(m, "REML"), is_REML = getME(m, "is_REML"),
  y_head = I(unname(getME(m, "y"))[1:5]), mu_head = I(unname(getME(m, "mu"))[1:5]),
  offset_head = I(unname(getME(m, "offset"))[1:5]),
  ST = lapply(getME(m, "ST"), unname), Tlist = lapply(getME(m, "Tlist"), unname),
  devcomp_cmp = as.list(getME(m, "devcomp")$cmp), devcomp_dims = as.list(getME(m, "devcomp")$dims))
g <- glmer(f_cb, cbpp, binomial)
res$getme_glmer <- list(theta = I(unname(getME(g, "theta"))), beta = I(unname(getME(g, "beta"))),
  u = I(unname(getME(g, "u"))), b = I(unname(as.numeric(getME(g, "b")))), mu_head = I(unname(getME(g, "mu"))[1:5]),
  lower = I(unname(getME(g, "lower"))), RX = unname(getME(g, "RX")))

# ---- links from make.link() for any family
set.seed(7)
nl <- 200
gl <- factor(rep(sprintf("g%02d", 1:20), each = 10))
xl <- runif(nl)
bl <- rnorm(20, sd = 0.4)[as.integer(gl)]
yl <- plogis(-0.5 + 1.2 * xl + bl) + rnorm(nl, sd = 0.05)
yl <- pmin(pmax(yl, 0.01), 0.99)
links_data <- data.frame(y = yl, x = xl, g = gl)
res$links_data <- list(y = I(yl), x = I(xl), g = I(as.character(gl)))
res$link_gaussian_logit <- run(glmer(y ~ x + (1 | g), links_data, gaussian(link = "logit")))
res$link_binomial_identity <- run(glmer(f_cb, cbpp, binomial(link = "identity")))
res$link_binomial_sqrt <- run(glmer(f_cb, cbpp, binomial(link = "sqrt")))
res$link_poisson_inverse <- tryCatch(glm(size ~ period, cbpp, family = poisson(link = "inverse"))$coefficients,
                                     error = function(e) conditionMessage(e))
res$link_gamma_sqrt <- run(glmer(size ~ period + (1 | herd), cbpp, Gamma(link = "sqrt")))
res$link_unknown <- tryCatch({binomial(link = "foo"); "no error"}, error = function(e) conditionMessage(e))

# ---- glmer() without family=
res$glmer_no_family <- run(glmer(f_ss, sleep))

write_json_file(res, out)
