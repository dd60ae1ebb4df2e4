# Reference values for inference on mixed models: likelihood-ratio tables (anova of
# nested models, drop1), lmerTest t tables and F tables with Satterthwaite and
# Kenward-Roger degrees of freedom, and profile / Wald confidence intervals.
#
# usage: Rscript inference.R DATA_DIR OUT.json [TYPES.json]
#   (from tests/reference: Rscript inference.R ../../../shared/data inference.json)
#
# The JSON is a dict keyed by id. Each entry has: id, kind ("anova", "drop1",
# "lmertest_summary", "lmertest_anova", "confint"), data, prep (a description of
# any change to the data after loading; null if none), package ("lme4", or
# "lmerTest" when the model was fitted with lmerTest::lmer), models (name ->
# lmer/glmer call; the names are the row names of anova tables), call (the
# inference call),
# options specific to the kind (ddf, type, method), table (rownames, columns,
# values; NA -> null), warnings (warnings and messages raised), seconds.
suppressMessages({library(lme4); library(lmerTest); library(pbkrtest)})
invisible(Sys.setlocale("LC_COLLATE", "C"))
options(width = 80, useFancyQuotes = FALSE)

script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f[1])) else getwd()
})
source(file.path(script_dir, "common.R"))

args <- commandArgs(TRUE)
if (length(args) < 2) stop("usage: Rscript inference.R DATA_DIR OUT.json [TYPES.json]")
data_dir <- args[1]
types <- read_types(if (length(args) >= 3) args[3] else file.path(data_dir, "lme4_datasets_types.json"))

## ---------------------------------------------------------------- data preps --
lamprey_adult <- function(d) {
  d$Copies_2 <- ifelse(is.na(d$Copies), log10(0 + 1), log10(d$Copies + 1))
  d$stock <- factor(d$stock, levels = c("0L", "2L", "20L", "200L"))
  d
}
lamprey_adult_desc <- "Copies_2 = log10(Copies+1), NA copies -> 0; stock factor levels 0L,2L,20L,200L"
drop_every_7th <- function(d) d[seq_len(nrow(d)) %% 7 != 0, ]
drop_every_7th_desc <- "drop the rows whose 1-based row number is a multiple of 7 (7, 14, ..., 175): 155 of 180 rows remain"

## ------------------------------------------------------------------ machinery --
res <- list()

# Fit the named model calls (list name -> quoted call over `d`) and evaluate `call`
# (quoted; refers to the models by name) in an environment holding them. `table_fn`
# turns the result into the table to store. Warnings/messages from fitting and from
# the inference call are recorded together.
run <- function(id, kind, data, models, call, table_fn = identity, prep = NULL,
                prep_desc = NULL, options = list()) {
  d <- load_data(data, data_dir, types)
  if (!is.null(prep)) d <- prep(d)
  env <- new.env()
  assign("d", d, envir = env)
  cap <- capture({
    for (nm in names(models)) assign(nm, eval(models[[nm]], env), envir = env)
    eval(call, env)
  })
  # model calls are written without the package prefix; `package` says which lmer
  pkg <- if (any(grepl("^lmerTest::", vapply(models, deparse1, "")))) "lmerTest" else "lme4"
  entry <- c(list(id = id, kind = kind, data = data,
                  prep = if (is.null(prep_desc)) NA else prep_desc, package = pkg,
                  models = lapply(models, function(m) sub("^(lme4|lmerTest)::", "", deparse1(m))),
                  call = deparse1(call)),
             options,
             list(table = tab(table_fn(cap$value)),
                  warnings = I(unique(c(cap$warnings, cap$messages))),
                  seconds = cap$seconds))
  # likelihood-ratio tables: also the lines print() shows
  if (kind %in% c("anova", "drop1")) entry$printed <- I(capture.output(print(cap$value)))
  res[[id]] <<- entry[!vapply(entry, is.null, logical(1))]
  cat(sprintf("%-52s %-17s %7.2f s%s\n", id, kind, cap$seconds,
              if (length(entry$warnings)) "  [warned]" else ""))
  invisible(cap$value)
}

## ---------------------------------------------- anova: nested model comparison --
# REML fits are refitted with ML by anova() (lme4 says so in a message), unless
# refit = FALSE. anova.merMod orders the models by number of parameters.
sleep_int <- quote(lme4::lmer(Reaction ~ Days + (1 | Subject), data = d))
sleep_slope <- quote(lme4::lmer(Reaction ~ Days + (Days | Subject), data = d))
sleep_quad <- quote(lme4::lmer(Reaction ~ Days + I(Days^2) + (Days | Subject), data = d))
sleep_null <- quote(lme4::lmer(Reaction ~ 1 + (Days | Subject), data = d))

run("anova_sleepstudy_random_slope", "anova", "sleepstudy",
    list(intercepts = sleep_int, slopes = sleep_slope),
    quote(anova(intercepts, slopes)))
run("anova_sleepstudy_random_slope_norefit", "anova", "sleepstudy",
    list(intercepts = sleep_int, slopes = sleep_slope),
    quote(anova(intercepts, slopes, refit = FALSE)))
run("anova_sleepstudy_fixed_days", "anova", "sleepstudy",
    list(no_days = sleep_null, slopes = sleep_slope),
    quote(anova(no_days, slopes)))
run("anova_sleepstudy_three_models", "anova", "sleepstudy",
    list(intercepts = sleep_int, slopes = sleep_slope, quadratic = sleep_quad),
    quote(anova(intercepts, slopes, quadratic)))
run("anova_cake_interaction", "anova", "cake",
    list(additive = quote(lme4::lmer(angle ~ recipe + temperature + (1 | recipe:replicate), data = d)),
         interaction = quote(lme4::lmer(angle ~ recipe * temperature + (1 | recipe:replicate), data = d))),
    quote(anova(additive, interaction)))
run("anova_sites_slopes_ML", "anova", "robinson_sites",
    list(intercepts = quote(lme4::lmer(y ~ x + (1 | site), data = d, REML = FALSE)),
         slopes = quote(lme4::lmer(y ~ x + (x | site), data = d, REML = FALSE))),
    quote(anova(intercepts, slopes)))
run("anova_cbpp_period", "anova", "cbpp",
    list(null = quote(glmer(cbind(incidence, size - incidence) ~ 1 + (1 | herd), data = d, family = binomial)),
         period = quote(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = d, family = binomial))),
    quote(anova(null, period)))
run("anova_lamprey_juvenile_fluor", "anova", "lamprey_lab_DNA",
    list(dna = quote(glmer(Detect ~ factor(DNA) + (1 | tank), data = d, family = binomial)),
         fluor = quote(glmer(Detect ~ factor(DNA) + Fluor + (1 | tank), data = d, family = binomial))),
    quote(anova(dna, fluor)))
run("anova_grouseticks_poisson_nb", "anova", "grouseticks",
    list(poisson = quote(glmer(TICKS ~ YEAR + scale(HEIGHT) + (1 | LOCATION), data = d, family = poisson)),
         nb = quote(glmer.nb(TICKS ~ YEAR + scale(HEIGHT) + (1 | LOCATION), data = d))),
    quote(anova(poisson, nb)))

## ------------------------------------------------------- drop1 (LRT, ML fits) --
run("drop1_sites_slopes_ML", "drop1", "robinson_sites",
    list(m = quote(lme4::lmer(y ~ x + (x | site), data = d, REML = FALSE))),
    quote(drop1(m, test = "Chisq")))
run("drop1_cake_additive_ML", "drop1", "cake",
    list(m = quote(lme4::lmer(angle ~ recipe + temp + (1 | replicate), data = d, REML = FALSE))),
    quote(drop1(m, test = "Chisq")))
run("drop1_bats_interaction_ML", "drop1", "batMass",
    list(m = quote(lme4::lmer(mass ~ species * forest + (1 | sites), data = d, REML = FALSE))),
    quote(drop1(m, test = "Chisq")))
run("drop1_grouseticks_lmm_ML", "drop1", "grouseticks",
    list(m = quote(lme4::lmer(log(1 + TICKS) ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | LOCATION),
                              data = d, REML = FALSE))),
    quote(drop1(m, test = "Chisq")))
run("drop1_cbpp_binomial", "drop1", "cbpp",
    list(m = quote(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = d, family = binomial))),
    quote(drop1(m, test = "Chisq")))
run("drop1_grouseticks_poisson", "drop1", "grouseticks",
    list(m = quote(glmer(TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION),
                         data = d, family = poisson))),
    quote(drop1(m, test = "Chisq")))
run("drop1_lamprey_juvenile", "drop1", "lamprey_lab_DNA",
    list(m = quote(glmer(Detect ~ factor(DNA) + Fluor + (1 | tank), data = d, family = binomial))),
    quote(drop1(m, test = "Chisq")))

## ------------------------------------------ lmerTest: t tables and F tables --
lt_models <- list(
  sleepstudy_slopes = list(data = "sleepstudy",
    call = quote(lmerTest::lmer(Reaction ~ Days + (Days | Subject), data = d))),
  sleepstudy_unbalanced = list(data = "sleepstudy", prep = drop_every_7th, prep_desc = drop_every_7th_desc,
    call = quote(lmerTest::lmer(Reaction ~ Days + (Days | Subject), data = d))),
  lamprey_adult_sample = list(data = "lamprey_adult_lab_DNA", prep = lamprey_adult, prep_desc = lamprey_adult_desc,
    call = quote(lmerTest::lmer(Copies_2 ~ stock + (1 | Sample), data = d))),
  cake_interaction = list(data = "cake",
    call = quote(lmerTest::lmer(angle ~ recipe * temperature + (1 | recipe:replicate), data = d))),
  bats_interaction = list(data = "batMass",
    call = quote(lmerTest::lmer(mass ~ species * forest + (1 | sites), data = d))),
  arabidopsis_lmm = list(data = "Arabidopsis",
    call = quote(lmerTest::lmer(log(1 + total.fruits) ~ nutrient * amd + (1 | popu) + (1 | gen), data = d)))
)
ddfs <- c(satterthwaite = "Satterthwaite", kenward_roger = "Kenward-Roger")

for (nm in names(lt_models)) {
  lm_ <- lt_models[[nm]]
  for (dk in names(ddfs)) {
    run(paste0("lmertest_summary_", nm, "_", dk), "lmertest_summary", lm_$data,
        list(m = lm_$call), bquote(summary(m, ddf = .(ddfs[[dk]]))),
        table_fn = function(s) s$coefficients,
        prep = lm_$prep, prep_desc = lm_$prep_desc, options = list(ddf = ddfs[[dk]]))
  }
}
for (nm in setdiff(names(lt_models), "sleepstudy_unbalanced")) {
  lm_ <- lt_models[[nm]]
  for (dk in names(ddfs)) for (type in c(1, 2, 3)) {
    run(paste0("lmertest_anova_", nm, "_type", type, "_", dk), "lmertest_anova", lm_$data,
        list(m = lm_$call), bquote(anova(m, type = .(type), ddf = .(ddfs[[dk]]))),
        prep = lm_$prep, prep_desc = lm_$prep_desc, options = list(ddf = ddfs[[dk]], type = type))
  }
}

## ---------------------------------------------------- confidence intervals --
# Row names are lme4's default (oldNames = TRUE: .sig01, ..., .sigma); rownames_new
# gives the same rows named as with oldNames = FALSE (sd_(Intercept)|Subject, ...).
ci_models <- list(
  lamprey_adult_sample = list(data = "lamprey_adult_lab_DNA", prep = lamprey_adult, prep_desc = lamprey_adult_desc,
    call = quote(lme4::lmer(Copies_2 ~ stock + (1 | Sample), data = d))),
  sleepstudy_slopes = list(data = "sleepstudy",
    call = quote(lme4::lmer(Reaction ~ Days + (Days | Subject), data = d))),
  dyestuff_REML = list(data = "Dyestuff",
    call = quote(lme4::lmer(Yield ~ 1 + (1 | Batch), data = d))),
  sites_slopes_ML = list(data = "robinson_sites",
    call = quote(lme4::lmer(y ~ x + (x | site), data = d, REML = FALSE))),
  cbpp_binomial = list(data = "cbpp",
    call = quote(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = d, family = binomial)))
)
for (nm in names(ci_models)) {
  cm <- ci_models[[nm]]
  for (method in c("profile", "Wald")) {
    id <- paste0("confint_", nm, "_", tolower(method))
    run(id, "confint", cm$data, list(m = cm$call),
        bquote(confint(m, method = .(method))),
        prep = cm$prep, prep_desc = cm$prep_desc, options = list(method = method, level = 0.95))
    # the same rows under oldNames = FALSE (from the fast Wald method: same order)
    d <- load_data(cm$data, data_dir, types)
    if (!is.null(cm$prep)) d <- cm$prep(d)
    fit <- suppressMessages(suppressWarnings(eval(cm$call)))
    res[[id]]$rownames_new <- I(rownames(confint(fit, method = "Wald", oldNames = FALSE)))
  }
}

write_json_file(res, args[2])
