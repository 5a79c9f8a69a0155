package provider

// New validates cfg and builds the provider set it describes: the offline
// provider with the statistical judge by default, or the OpenAI-compatible
// HTTP provider with a model judge (or the statistical one when
// cfg.Judge is "statistical").
func New(cfg Config) (Set, error) {
	if err := cfg.Validate(); err != nil {
		return Set{}, err
	}
	if cfg.kind() == KindOffline {
		o := NewOffline(cfg)
		return Set{Vision: o, Judge: StatisticalJudge{}, Completer: o}, nil
	}
	c, err := NewOpenAI(cfg)
	if err != nil {
		return Set{}, err
	}
	s := Set{Vision: c, Judge: c, Completer: c}
	if cfg.judgeMode() == JudgeStatistical {
		s.Judge = StatisticalJudge{}
	}
	return s, nil
}
