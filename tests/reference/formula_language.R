# Reference values for R's formula language as lme4 reads it (issue 12): model.matrix
# column names and values, model matrices of new data (poly/ns/bs keep their
# coefficients and knots), and a few lmer fits (objective, fixef, theta).
#
# usage: Rscript formula_language.R DATA_DIR OUT.json [TYPES.json]
#   (from tests/reference: Rscript formula_language.R ../../../shared/data formula_language.json)
#
# JSON: {"matrices": {id: {data, formula, contrasts, colnames, X, new_X}},
#        "fits": {id: {data, formula, contrasts, REML, objective, fixef_names, fixef, theta, predict}}}
# new_X is the model matrix of NEWDATA[[data]] built from the fitted terms (predvars);
# predict is predict(fit, newdata, re.form = NA).
suppressMessages({library(lme4); library(splines)})
invisible(Sys.setlocale("LC_COLLATE", "C"))

script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f[1])) else getwd()
})
source(file.path(script_dir, "common.R"))
args <- commandArgs(TRUE)
if (length(args) < 2) stop("usage: Rscript formula_language.R DATA_DIR OUT.json [TYPES.json]")
data_dir <- args[1]
types <- read_types(if (length(args) >= 3) args[3] else file.path(data_dir, "lme4_datasets_types.json"))
DATA <- list(sleepstudy = load_data("sleepstudy", data_dir, types),
             cake = load_data("cake", data_dir, types),
             Dyestuff = load_data("Dyestuff", data_dir, types))
DATA$sleepstudy_matrix <- transform(DATA$sleepstudy, X = I(cbind(a = Days, b = Days^2)))
DATA$sleepstudy_matrix$X <- unclass(DATA$sleepstudy_matrix$X)
NEWDATA <- list(
  sleepstudy = data.frame(Days = c(-1, 0, 0.5, 3.25, 9, 11.5), Subject = "308"),
  cake = data.frame(recipe = factor(c("A", "B", "C"), levels = c("A", "B", "C")),
                    temperature = factor(c("175", "205", "225"),
                                         levels = levels(DATA$cake$temperature), ordered = TRUE),
                    temp = c(170, 200, 230)))

mats <- list(
  poly2 = list("sleepstudy", ~ poly(Days, 2)),
  poly3_raw = list("sleepstudy", ~ poly(Days, 3, raw = TRUE)),
  stats_poly = list("sleepstudy", ~ stats::poly(Days, degree = 2)),
  ns3 = list("sleepstudy", ~ ns(Days, 3)),
  ns_knots = list("sleepstudy", ~ splines::ns(Days, knots = c(2, 5.5), Boundary.knots = c(0, 10))),
  ns_int = list("sleepstudy", ~ 0 + ns(Days, df = 4, intercept = TRUE)),
  bs_df = list("sleepstudy", ~ bs(Days, df = 5)),
  bs_knots = list("sleepstudy", ~ splines::bs(Days, knots = c(3, 6), degree = 2)),
  bs_int = list("sleepstudy", ~ 0 + bs(Days, df = 4, intercept = TRUE, Boundary.knots = c(-1, 12))),
  bs_deg1 = list("sleepstudy", ~ bs(Days, degree = 1, knots = 4.5)),
  poly_temp_x_recipe = list("cake", ~ recipe * poly(temp, 2)),
  C_sum = list("cake", ~ C(recipe, contr.sum)),
  C_helmert = list("cake", ~ C(recipe, contr.helmert)),
  C_treatment = list("cake", ~ C(temperature, contr.treatment)),
  C_SAS = list("cake", ~ C(recipe, contr.SAS)),
  C_poly = list("cake", ~ C(recipe, contr.poly)),
  relevel = list("cake", ~ relevel(recipe, ref = "B")),
  dummy = list("cake", ~ dummy(recipe, "C")),
  dummy_two = list("cake", ~ dummy(recipe, c("A", "C"))),
  dummy_default = list("cake", ~ dummy(recipe) + dummy(temp > 200)),
  ctr_sum = list("cake", ~ recipe * temperature, list(recipe = "contr.sum", temperature = "contr.treatment")),
  ctr_helmert = list("cake", ~ recipe + temp, list(recipe = "contr.helmert")),
  ctr_poly = list("cake", ~ recipe, list(recipe = "contr.poly")),
  ctr_SAS = list("cake", ~ recipe:temp, list(recipe = "contr.SAS")),
  ctr_base2 = list("cake", ~ recipe, list(recipe = contr.treatment(3, base = 2))),
  ctr_matrix = list("cake", ~ recipe, list(recipe = matrix(c(1, 0, -1, 0.5, 0.5, -1), 3))),
  ctr_matrix_named = list("cake", ~ recipe, list(recipe = matrix(c(1, 0, -1, 0.5, 0.5, -1), 3,
                                                             dimnames = list(NULL, c("AvC", "ABvC"))))),
  in_op = list("cake", ~ recipe + temp %in% recipe),
  dot = list("Dyestuff", Yield ~ .),
  matrix_column = list("sleepstudy_matrix", ~ X + log(X + 1))
)

matrices <- list()
for (id in names(mats)) {
  s <- mats[[id]]
  d <- DATA[[s[[1]]]]
  ctr <- if (length(s) >= 3) s[[3]] else NULL
  mf <- model.frame(s[[2]], d)
  X <- model.matrix(terms(mf), mf, contrasts.arg = ctr)
  entry <- list(data = s[[1]], formula = paste(deparse(s[[2]], width.cutoff = 500), collapse = ""),
                contrasts = if (is.null(ctr)) NULL else lapply(ctr, function(v) if (is.matrix(v)) list(matrix = matrix(v, nrow(v)), colnames = colnames(v)) else v),
                colnames = I(colnames(X)), X = matrix(X, nrow(X)))
  nd <- NEWDATA[[s[[1]]]]
  if (!is.null(nd)) {
    tt <- delete.response(terms(mf))
    Xn <- model.matrix(tt, model.frame(tt, nd), contrasts.arg = ctr)
    entry$new_X <- matrix(Xn, nrow(Xn))
  }
  matrices[[id]] <- entry
}

fits <- list(
  bare_bar_dyestuff = list("Dyestuff", Yield ~ 1 | Batch),
  bare_bar_sleep = list("sleepstudy", Reaction ~ Days | Subject),
  bare_bar_sum = list("sleepstudy", Reaction ~ (1 + Days) | Subject),
  poly_fixed = list("sleepstudy", Reaction ~ poly(Days, 2) + (1 | Subject)),
  poly_random_raw = list("sleepstudy", Reaction ~ poly(Days, 2, raw = TRUE) + (poly(Days, 1, raw = TRUE) | Subject)),
  poly_random = list("sleepstudy", Reaction ~ Days + (poly(Days, 1) | Subject)),
  ns_fixed = list("sleepstudy", Reaction ~ splines::ns(Days, df = 3) + (1 | Subject)),
  bs_fixed = list("sleepstudy", Reaction ~ bs(Days, knots = c(3, 6)) + (Days | Subject)),
  contrasts_sum = list("cake", angle ~ recipe + temperature + (1 | replicate), list(recipe = "contr.sum")),
  contrasts_helmert_ml = list("cake", angle ~ recipe * temp + (1 | replicate), list(recipe = "contr.helmert"), FALSE),
  C_sum_fit = list("cake", angle ~ C(recipe, contr.sum) + temp + (1 | replicate)),
  matrix_column_fit = list("sleepstudy_matrix", Reaction ~ X + (1 | Subject)),
  dummy_random = list("cake", angle ~ recipe + temp + (1 | replicate) + (0 + dummy(recipe, "A") | replicate))
)
fitres <- list()
for (id in names(fits)) {
  s <- fits[[id]]
  d <- DATA[[s[[1]]]]
  ctr <- if (length(s) >= 3) s[[3]] else NULL
  REML <- if (length(s) >= 4) s[[4]] else TRUE
  m <- suppressWarnings(suppressMessages(lmer(s[[2]], data = d, REML = REML, contrasts = ctr)))
  entry <- list(data = s[[1]], formula = paste(deparse(s[[2]], width.cutoff = 500), collapse = ""),
                contrasts = ctr, REML = REML, objective = unname(if (REML) REMLcrit(m) else deviance(m)),
                fixef_names = I(names(fixef(m))), fixef = unname(fixef(m)), theta = I(unname(getME(m, "theta"))))
  nd <- NEWDATA[[s[[1]]]]
  if (!is.null(nd)) entry$predict <- I(unname(predict(m, newdata = nd, re.form = NA)))
  fitres[[id]] <- entry
}

write_json_file(list(matrices = matrices, fits = fitres), args[2])
