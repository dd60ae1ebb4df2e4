# Linear mixed models (lmer) for lmm.json. Each entry: id, data (CSV name), call
# (an expression over the prepared data `d`), and optionally prep (function(d) -> d)
# with prep_desc, its description in words (the JSON's "prep" field).
# Data come typed as in lme4 (see common.R::load_data); lamprey_*, batMass and
# robinson_* are read as is, so their text columns are character vectors.

lamprey_adult <- function(d) {
  d$Copies_2 <- ifelse(is.na(d$Copies), log10(0 + 1), log10(d$Copies + 1))
  d$stock <- factor(d$stock, levels = c("0L", "2L", "20L", "200L"))
  d
}
lamprey_adult_desc <- "Copies_2 = log10(Copies+1), NA copies -> 0; stock factor levels 0L,2L,20L,200L"

lamprey_stock <- function(d) {
  d$stock <- factor(d$stock, levels = c("0L", "2L", "20L", "200L"))
  d
}
lamprey_stock_desc <- "stock factor levels 0L,2L,20L,200L (Copies left as is: rows with NA Copies are dropped by na.omit)"

models <- list(
  ## -- the linear models of the seed lectures (same ids as seed_models.json) --
  list(id = "sleepstudy_slopes", data = "sleepstudy",
       call = quote(lmer(Reaction ~ Days + (Days | Subject), data = d))),
  list(id = "sleepstudy_slopes_ML", data = "sleepstudy",
       call = quote(lmer(Reaction ~ Days + (Days | Subject), data = d, REML = FALSE))),
  list(id = "lamprey_adult_sample", data = "lamprey_adult_lab_DNA",
       prep = lamprey_adult, prep_desc = lamprey_adult_desc,
       call = quote(lmer(Copies_2 ~ stock + (1 | Sample), data = d))),
  list(id = "lamprey_adult_tank", data = "lamprey_adult_lab_DNA",
       prep = lamprey_adult, prep_desc = lamprey_adult_desc,
       call = quote(lmer(Copies_2 ~ stock + (1 | tank), data = d))),
  # robinson_sites: site is a character column (string grouping factor)
  list(id = "sites_intercepts", data = "robinson_sites",
       call = quote(lmer(y ~ x + (1 | site), data = d))),
  list(id = "sites_slopes", data = "robinson_sites",
       call = quote(lmer(y ~ x + (x | site), data = d))),
  list(id = "sites_slopes_ML", data = "robinson_sites",
       call = quote(lmer(y ~ x + (x | site), data = d, REML = FALSE))),
  # batMass: species (fixed) and sites (grouping) are character columns
  list(id = "bats_intercepts", data = "batMass",
       call = quote(lmer(mass ~ species * forest - 1 + (1 | sites), data = d))),
  list(id = "bats_slopes", data = "batMass",
       call = quote(lmer(mass ~ species * forest - 1 + (forest | sites), data = d))),

  ## -- single random intercept --
  list(id = "dyestuff_REML", data = "Dyestuff",
       call = quote(lmer(Yield ~ 1 + (1 | Batch), data = d))),
  list(id = "dyestuff_ML", data = "Dyestuff",
       call = quote(lmer(Yield ~ 1 + (1 | Batch), data = d, REML = FALSE))),
  list(id = "dyestuff2_REML", data = "Dyestuff2",            # singular: theta = 0
       call = quote(lmer(Yield ~ 1 + (1 | Batch), data = d))),
  list(id = "dyestuff2_ML", data = "Dyestuff2",
       call = quote(lmer(Yield ~ 1 + (1 | Batch), data = d, REML = FALSE))),

  ## -- crossed and nested --
  list(id = "penicillin_crossed", data = "Penicillin",
       call = quote(lmer(diameter ~ 1 + (1 | plate) + (1 | sample), data = d))),
  list(id = "penicillin_crossed_ML", data = "Penicillin",
       call = quote(lmer(diameter ~ 1 + (1 | plate) + (1 | sample), data = d, REML = FALSE))),
  list(id = "pastes_nested", data = "Pastes",
       call = quote(lmer(strength ~ 1 + (1 | batch/cask), data = d))),
  list(id = "pastes_nested_ML", data = "Pastes",
       call = quote(lmer(strength ~ 1 + (1 | batch/cask), data = d, REML = FALSE))),
  list(id = "pastes_sample_batch", data = "Pastes",
       call = quote(lmer(strength ~ 1 + (1 | sample) + (1 | batch), data = d))),

  ## -- sleepstudy variants --
  list(id = "sleepstudy_uncorrelated", data = "sleepstudy",
       call = quote(lmer(Reaction ~ Days + (Days || Subject), data = d))),
  list(id = "sleepstudy_uncorrelated_explicit", data = "sleepstudy",
       call = quote(lmer(Reaction ~ Days + (1 | Subject) + (0 + Days | Subject), data = d))),
  list(id = "sleepstudy_intercept", data = "sleepstudy",
       call = quote(lmer(Reaction ~ 1 + Days + (1 | Subject), data = d))),
  list(id = "sleepstudy_quadratic", data = "sleepstudy",
       call = quote(lmer(Reaction ~ Days + I(Days^2) + (Days | Subject), data = d))),
  list(id = "sleepstudy_log", data = "sleepstudy",
       call = quote(lmer(log(Reaction) ~ Days + (Days | Subject), data = d))),
  # rank-deficient fixed part: Days2 duplicates Days; lme4 drops Days2 with a message
  list(id = "sleepstudy_rankdef", data = "sleepstudy",
       prep = function(d) { d$Days2 <- 2 * d$Days; d }, prep_desc = "Days2 = 2*Days",
       call = quote(lmer(Reaction ~ Days + Days2 + (1 | Subject), data = d))),
  # prior weights
  list(id = "sleepstudy_weights", data = "sleepstudy",
       prep = function(d) { d$w <- 1 + (d$Days %% 3); d }, prep_desc = "w = 1 + (Days %% 3)",
       call = quote(lmer(Reaction ~ Days + (Days | Subject), data = d, weights = w))),
  # offsets: in the formula and as the offset= argument (same model)
  list(id = "sleepstudy_offset_formula", data = "sleepstudy",
       call = quote(lmer(Reaction ~ Days + offset(Days) + (1 | Subject), data = d))),
  list(id = "sleepstudy_offset_arg", data = "sleepstudy",
       call = quote(lmer(Reaction ~ Days + (1 | Subject), data = d, offset = Days))),
  # an offset outside the span of the fixed effects (changes the fit)
  list(id = "sleepstudy_offset_sqrt", data = "sleepstudy",
       call = quote(lmer(Reaction ~ Days + offset(5 * sqrt(Days)) + (1 | Subject), data = d))),

  ## -- factors: ordered (polynomial contrasts), interactions, character columns --
  list(id = "cake_interaction", data = "cake",
       call = quote(lmer(angle ~ recipe * temperature + (1 | recipe:replicate), data = d))),
  list(id = "cake_interaction_ML", data = "cake",
       call = quote(lmer(angle ~ recipe * temperature + (1 | recipe:replicate), data = d, REML = FALSE))),
  list(id = "cake_additive", data = "cake",
       call = quote(lmer(angle ~ recipe + temp + (1 | replicate), data = d))),
  # nutrient is an integer column (1 or 8) used as numeric; gen is integer (grouping)
  list(id = "arabidopsis_lmm", data = "Arabidopsis",
       call = quote(lmer(log(1 + total.fruits) ~ nutrient * amd + (1 | popu) + (1 | gen), data = d))),
  list(id = "grouseticks_lmm", data = "grouseticks",
       call = quote(lmer(log(1 + TICKS) ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | LOCATION), data = d))),

  ## -- missing values in the response (na.omit) --
  list(id = "lamprey_adult_na_omit", data = "lamprey_adult_lab_DNA",
       prep = lamprey_stock, prep_desc = lamprey_stock_desc,
       call = quote(lmer(log10(Copies + 1) ~ stock + (1 | tank), data = d))),

  ## -- large crossed (InstEval, 73421 rows) --
  list(id = "insteval_ML", data = "InstEval",
       call = quote(lmer(y ~ service + (1 | s) + (1 | d) + (1 | dept), data = d, REML = FALSE))),
  list(id = "insteval_interaction", data = "InstEval",
       call = quote(lmer(y ~ service * dept + (1 | s) + (1 | d), data = d, REML = TRUE)))
)
