# glmmTMB reference fits for tmb.json (tests/test_tmb_reference.py).
# Each model is given as the strings pymer.glmmtmb takes (formula, family, link,
# ziformula, dispformula, REML, weights); the glmmTMB call is built from them.
# usage: Rscript tmb_models.R DATA_DIR OUT_JSON     (DATA_DIR: tests/data, see tmb_data.R)
source("tmb_common.R")
args <- commandArgs(trailingOnly = TRUE)
data_dir <- args[1]; out <- args[2]

M <- function(id, data, formula, family, link = NULL, ziformula = "~0", dispformula = "~1",
              REML = FALSE, weights = NULL, offset = NULL)
  list(id = id, data = data, formula = formula, family = family, link = link,
       ziformula = ziformula, dispformula = dispformula, REML = REML, weights = weights,
       offset = offset)

cov_sal <- "count ~ spp + mined + (1 | site)"
models <- list(
  M("sites_nbinom2", "robinson_sites_counts", "y ~ x + (x | site)", "nbinom2"),
  M("sal_zip_1", "Salamanders", "count ~ mined + (1 | site)", "poisson", ziformula = "~1"),
  M("sal_zip_cov", "Salamanders", cov_sal, "poisson", ziformula = "~mined"),
  M("sal_zinb2_cov", "Salamanders", cov_sal, "nbinom2", ziformula = "~mined"),
  M("sal_zinb1", "Salamanders", cov_sal, "nbinom1", ziformula = "~1"),
  M("sal_hurdle_poisson", "Salamanders", cov_sal, "truncated_poisson", ziformula = "~mined"),
  M("sal_hurdle_nbinom2", "Salamanders", cov_sal, "truncated_nbinom2", ziformula = "~mined"),
  M("sal_hurdle_nbinom1", "Salamanders", "count ~ mined + (1 | site)", "truncated_nbinom1", ziformula = "~1"),
  M("sal_nbinom2_disp", "Salamanders", "count ~ mined + (1 | site)", "nbinom2", dispformula = "~mined"),
  M("sal_genpois", "Salamanders", "count ~ mined + (1 | site)", "genpois"),
  M("sal_tweedie", "Salamanders", "count ~ mined + (1 | site)", "tweedie"),
  M("owls_zinb1_offset", "Owls",
    "SiblingNegotiation ~ FoodTreatment * SexParent + offset(logBroodSize) + (1 | Nest)", "nbinom1",
    ziformula = "~1"),
  M("owls_poisson_offset", "Owls",
    "SiblingNegotiation ~ FoodTreatment + ArrivalTime + offset(logBroodSize) + (1 | Nest)", "poisson"),
  M("sleep_gaussian_ml", "sleepstudy", "Reaction ~ Days + (Days | Subject)", "gaussian"),
  M("sleep_gaussian_reml", "sleepstudy", "Reaction ~ Days + (Days | Subject)", "gaussian", REML = TRUE),
  M("sleep_gaussian_disp", "sleepstudy", "Reaction ~ Days + (1 | Subject)", "gaussian", dispformula = "~Days"),
  M("cbpp_binomial", "cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial"),
  M("cbpp_binomial_weights", "cbpp", "incidence / size ~ period + (1 | herd)", "binomial", weights = "size"),
  M("cbpp_betabinomial", "cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "betabinomial"),
  M("grouse_nbinom2_crossed", "grouseticks", "TICKS ~ YEAR + (1 | BROOD) + (1 | LOCATION)", "nbinom2"),
  M("beta_sim", "beta_sim", "y ~ x + (1 | grp)", "beta"),
  M("owls_gamma_log", "Owls", "ArrivalTime ~ FoodTreatment + (1 | Nest)", "Gamma", link = "log"),
  # prior weights multiplying the log-likelihood; an offset given as an argument
  M("owls_nbinom2_weights", "Owls", "SiblingNegotiation ~ FoodTreatment + (1 | Nest)", "nbinom2",
    weights = "BroodSize"),
  M("owls_zip_offset_arg", "Owls", "SiblingNegotiation ~ FoodTreatment + SexParent + (1 | Nest)", "poisson",
    ziformula = "~FoodTreatment", offset = "logBroodSize")
)

fam_call <- function(m) {
  fn <- if (m$family == "beta") "beta_family" else m$family
  if (is.null(m$link)) get(fn)() else get(fn)(link = m$link)
}

results <- list()
for (m in models) {
  cat(m$id, "\n")
  d <- load_tmb(m$data, data_dir)
  fam <- fam_call(m)
  wt <- if (is.null(m$weights)) NULL else d[[m$weights]]
  d$.w <- wt
  d$.o <- if (is.null(m$offset)) 0 else d[[m$offset]]
  r <- capture(if (is.null(wt))
    glmmTMB(as.formula(m$formula), data = d, family = fam, ziformula = as.formula(m$ziformula),
            dispformula = as.formula(m$dispformula), REML = m$REML, offset = .o)
  else
    glmmTMB(as.formula(m$formula), data = d, family = fam, ziformula = as.formula(m$ziformula),
            dispformula = as.formula(m$dispformula), REML = m$REML, weights = .w, offset = .o))
  f <- r$value
  fe <- fixef(f)
  V <- vcov(f, full = TRUE)
  se <- sqrt(diag(V))
  vc <- VarCorr(f)$cond
  re <- list()
  for (g in names(vc)) {
    s <- vc[[g]]
    re[[length(re) + 1]] <- list(grp = g, names = I(colnames(s)), sd = I(unname(attr(s, "stddev"))),
                                 cor = unname(attr(s, "correlation")))
  }
  fp <- tryCatch(family_params(f), error = function(e) numeric(0))
  pr <- function(type) I(unname(head(predict(f, type = type), 8)))
  entry <- c(m, list(
    logLik = as.numeric(logLik(f)), df = attr(logLik(f), "df"), AIC = AIC(f), BIC = BIC(f),
    nobs = nobs(f), df_residual = df.residual(f),
    fixef_cond = as.list(fe$cond), fixef_zi = as.list(fe$zi), fixef_disp = as.list(fe$disp),
    se = as.list(se), vcov_names = I(rownames(V)),
    sigma = sigma(f), family_params = as.list(fp), varcorr = re,
    ranef_first = I(unname(as.matrix(ranef(f)$cond[[1]])[1, ])),
    pred_response = pr("response"), pred_link = pr("link"), pred_conditional = pr("conditional"),
    pred_zprob = pr("zprob"), pred_disp = tryCatch(pr("disp"), error = function(e) NULL),
    fitted = I(unname(head(fitted(f), 8))),
    resid_pearson = tryCatch(I(unname(head(residuals(f, type = "pearson"), 8))), error = function(e) NULL),
    summary = I(capture.output(print(summary(f)))),
    warnings = I(r$warnings), seconds = r$seconds))
  if (is.null(entry$weights)) entry$weights <- NULL
  if (is.null(entry$offset)) entry$offset <- NULL
  results[[m$id]] <- entry
}
write_json_file(list(glmmTMB = as.character(packageVersion("glmmTMB")), models = results), out)
