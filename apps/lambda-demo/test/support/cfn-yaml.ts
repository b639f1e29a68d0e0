// Reads a CloudFormation/SAM template written in YAML: the short forms of the intrinsic functions
// (!Ref, !Sub, !If, ...) become their JSON forms ({ Ref }, { 'Fn::Sub' }, ...), as CloudFormation
// itself reads them.
import { parse, type Tags } from 'yaml';

const FUNCTIONS = [
  'And',
  'Base64',
  'Cidr',
  'Equals',
  'FindInMap',
  'GetAZs',
  'If',
  'ImportValue',
  'Join',
  'Not',
  'Or',
  'Select',
  'Split',
  'Sub',
  'Transform',
] as const;

function tagsFor(tag: string, build: (value: unknown) => unknown): Tags {
  return [
    { tag, resolve: (value: string) => build(value) },
    { tag, collection: 'seq', resolve: (seq) => build(seq.toJSON()) },
    { tag, collection: 'map', resolve: (map) => build(map.toJSON()) },
  ] as Tags;
}

const CUSTOM_TAGS: Tags = [
  ...tagsFor('!Ref', (v) => ({ Ref: v })),
  ...tagsFor('!Condition', (v) => ({ Condition: v })),
  // !GetAtt Resource.Attribute is the list form ['Resource', 'Attribute'].
  ...tagsFor('!GetAtt', (v) => ({
    'Fn::GetAtt': typeof v === 'string' ? [v.slice(0, v.indexOf('.')), v.slice(v.indexOf('.') + 1)] : v,
  })),
  ...FUNCTIONS.flatMap((name) => tagsFor(`!${name}`, (v) => ({ [`Fn::${name}`]: v }))),
];

export function parseTemplate(text: string): Record<string, any> {
  return parse(text, { customTags: CUSTOM_TAGS }) as Record<string, any>;
}

/** Every string in the template (keys excluded), with where it is. */
export function strings(node: unknown, path = ''): { path: string; value: string }[] {
  if (typeof node === 'string') return [{ path, value: node }];
  if (Array.isArray(node)) return node.flatMap((v, i) => strings(v, `${path}[${i}]`));
  if (node && typeof node === 'object') {
    return Object.entries(node).flatMap(([k, v]) => strings(v, path ? `${path}.${k}` : k));
  }
  return [];
}

const NO_VALUE = Symbol('AWS::NoValue');

/**
 * The template as CloudFormation would deploy it with these parameter values (others take their
 * defaults): conditions evaluated, Fn::If chosen, AWS::NoValue removed, parameter Refs and the
 * given pseudo parameters (AWS::Region: us-east-1 unless said) replaced. Other intrinsics (Fn::Sub,
 * resource Refs, other pseudo parameters) are left as they are.
 * `RuleFailures` lists the AssertDescription of every assertion of the Rules section that fails
 * with these values: CloudFormation refuses such a stack before creating anything.
 */
export function resolveTemplate(
  template: Record<string, any>,
  values: Record<string, string>,
  pseudo: Record<string, string> = { 'AWS::Region': 'us-east-1' },
): Record<string, any> {
  const params: Record<string, unknown> = {};
  for (const [name, p] of Object.entries<Record<string, any>>(template.Parameters ?? {})) {
    const raw = values[name] ?? (p.Default === undefined ? undefined : String(p.Default));
    if (raw === undefined) throw new Error(`parameter ${name} has no value and no default`);
    params[name] = p.Type === 'CommaDelimitedList' ? raw.split(',') : raw;
  }
  const conditions = new Map<string, boolean>();
  const condition = (name: string): boolean => {
    if (!conditions.has(name)) {
      const def = template.Conditions?.[name];
      if (def === undefined) throw new Error(`unknown condition ${name}`);
      conditions.set(name, Boolean(evaluate(def)));
    }
    return conditions.get(name)!;
  };
  const evaluate = (node: any): any => {
    if (Array.isArray(node)) return node.map(evaluate).filter((v) => v !== NO_VALUE);
    if (!node || typeof node !== 'object') return node;
    const keys = Object.keys(node);
    if (keys.length === 1) {
      const [key] = keys as [string];
      const arg = node[key];
      switch (key) {
        case 'Ref':
          if (arg === 'AWS::NoValue') return NO_VALUE;
          if (arg in params) return params[arg];
          return arg in pseudo ? pseudo[arg] : node;
        case 'Condition':
          return condition(arg);
        case 'Fn::If':
          return evaluate(condition(arg[0]) ? arg[1] : arg[2]);
        case 'Fn::Equals':
          return String(evaluate(arg[0])) === String(evaluate(arg[1]));
        case 'Fn::Not':
          return !evaluate(arg[0]);
        case 'Fn::And':
          return arg.every((a: unknown) => evaluate(a));
        case 'Fn::Or':
          return arg.some((a: unknown) => evaluate(a));
        case 'Fn::Join': {
          const list = evaluate(arg[1]);
          return Array.isArray(list) ? list.join(arg[0]) : node;
        }
      }
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) {
      const r = evaluate(v);
      if (r !== NO_VALUE) out[k] = r;
    }
    return out;
  };
  const ruleFailures: string[] = [];
  for (const rule of Object.values<Record<string, any>>(template.Rules ?? {})) {
    if (rule.RuleCondition !== undefined && !evaluate(rule.RuleCondition)) continue;
    for (const a of rule.Assertions ?? []) if (!evaluate(a.Assert)) ruleFailures.push(String(a.AssertDescription));
  }
  return {
    ...template,
    Resources: evaluate(template.Resources),
    Outputs: evaluate(template.Outputs ?? {}),
    RuleFailures: ruleFailures,
  };
}
